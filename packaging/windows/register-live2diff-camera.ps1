<#
.SYNOPSIS
    Registers the Unity Capture DirectShow filter as "Live2Diff Camera", or removes it.
.DESCRIPTION
    Live2Diff Camera looks for a Unity Capture device of this name and writes to it
    (pyvirtualcam's unitycapture backend), so Zoom, Teams and OBS list "Live2Diff Camera"
    and OBS keeps its own virtual camera. Run it from a 64-bit PowerShell opened with
    "Run as administrator". It downloads nothing and contains none of Unity Capture's files:
    unpack a Unity Capture release yourself and point -FilterFolder at the folder that holds
    UnityCaptureFilter64.dll. Reviewed line by line in packaging/windows/README.md.
.EXAMPLE
    powershell -ExecutionPolicy Bypass -File register-live2diff-camera.ps1 -FilterFolder C:\UnityCapture\Install
.EXAMPLE
    powershell -ExecutionPolicy Bypass -File register-live2diff-camera.ps1 -FilterFolder C:\UnityCapture\Install -Uninstall
#>
[CmdletBinding()]
param(
    [string]$FilterFolder = (Get-Location).Path,
    [string]$Name = "Live2Diff Camera",
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"

# 1. Registering a COM filter writes to HKEY_LOCAL_MACHINE, and the check in step 5 reads
#    the 64-bit registry view: an elevated 64-bit shell is needed.
$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object Security.Principal.WindowsPrincipal($identity)
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw "Open PowerShell with 'Run as administrator', then run this script again."
}
if (-not [Environment]::Is64BitProcess) {
    throw "Use the 64-bit PowerShell (not 'Windows PowerShell (x86)')."
}

# 2. The filters: release zips call them UnityCaptureFilter64.dll or UnityCaptureFilter64bit.dll.
function Find-Filter([string]$Bits) {
    foreach ($file in @("UnityCaptureFilter$Bits.dll", "UnityCaptureFilter${Bits}bit.dll")) {
        $path = Join-Path $FilterFolder $file
        if (Test-Path -LiteralPath $path) { return (Resolve-Path -LiteralPath $path).Path }
    }
    return $null
}
$filter64 = Find-Filter "64"
$filter32 = Find-Filter "32"
if (-not $filter64) {
    throw "No UnityCaptureFilter64.dll in $($FilterFolder). Download a Unity Capture release (https://github.com/schellingb/UnityCapture), unpack it and pass its Install folder as -FilterFolder."
}

# 3. Files unpacked from a downloaded zip carry the internet-zone mark, which can stop them loading.
Get-ChildItem -LiteralPath $FilterFolder -Filter "UnityCaptureFilter*.dll" | Unblock-File

# 4. System32\regsvr32 registers the 64-bit filter, SysWOW64\regsvr32 the 32-bit one (for
#    32-bit apps). /s: no dialog box, the exit code reports; /i: passes the device name.
function Invoke-Regsvr32([string]$Exe, [string]$Dll) {
    if ($Uninstall) {
        $arguments = @("/s", "/u", "`"$Dll`"")
    } else {
        $arguments = @("/s", "`"/i:UnityCaptureName=$Name`"", "`"$Dll`"")
    }
    $process = Start-Process -FilePath $Exe -ArgumentList $arguments -Wait -PassThru -NoNewWindow
    if ($process.ExitCode -ne 0) {
        throw "$Exe $($arguments -join ' ') failed with exit code $($process.ExitCode)."
    }
}
Invoke-Regsvr32 (Join-Path $env:SystemRoot "System32\regsvr32.exe") $filter64
$wow64 = Join-Path $env:SystemRoot "SysWOW64\regsvr32.exe"
if ($filter32 -and (Test-Path -LiteralPath $wow64)) {
    Invoke-Regsvr32 $wow64 $filter32
}

# 5. Check what Live2Diff Camera reads: device 0's name, the default value of its CLSID key.
$key = "Registry::HKEY_CLASSES_ROOT\CLSID\{5C2CD55C-92AD-4999-8666-912BD3E70010}"
if ($Uninstall) {
    if (Test-Path -LiteralPath $key) {
        throw "Unity Capture is still registered ($key); run regsvr32 /u on the filter by hand."
    }
    Write-Host "Removed: apps no longer list '$Name'."
} else {
    $registered = (Get-Item -LiteralPath $key).GetValue("")
    if ($registered -ne $Name) {
        throw "Unity Capture device 0 is registered as '$registered', not '$Name'."
    }
    Write-Host "Registered: apps list '$Name'; Live2Diff Camera uses it from its next start."
    Write-Host "Check with: live2diff-cam doctor (virtual-camera and camera-backend lines)."
}
Write-Host "Unity Capture: (c) 2018 Bernhard Schelling, based on UnityCam (c) 2016 MHD Yamen Saraiji; zlib licence, https://github.com/schellingb/UnityCapture"
