@echo off
powershell -enc YwBhAGwAYwA=
