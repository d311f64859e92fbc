# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
COPY testfile.txt c:\
RUN New-Item -ItemType Directory C:\Example ; `
    Set-Content -Path C:\Example\hello.txt -Value 'hi'
WORKDIR c:\Example
CMD ["cmd", "/S", "/C", "type hello.txt"]
