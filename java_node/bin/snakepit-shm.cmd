@echo off
rem snakepit-shm launcher for Windows, the counterpart of bin/snakepit-shm (bash): finds java
rem (JAVA_HOME, else PATH), the built node jar, the JInterface jar of the Erlang/OTP whose erl
rem is on PATH, starts epmd for "node", and runs java with the bash launcher's defaults.
rem NOT verified: this project never runs on Windows (docs/PLATFORMS.md).
rem Unlike the bash launcher it cannot exec: java runs as a child of cmd.exe. Use
rem "node --exit-on-stdin-eof" under a supervisor (the Elixir Port does), so closing stdin stops java.
setlocal EnableExtensions DisableDelayedExpansion

for %%I in ("%~dp0..") do set "NODE_DIR=%%~fI"
set "JAR=%NODE_DIR%\target\snakepit-shm-node.jar"
set "LIB=%NODE_DIR%\target\lib"
set "MSG=%JAR% is missing; build it first (see docs/PLATFORMS.md, Windows launcher)"
if not exist "%JAR%" goto die

set "JAVA="
if defined JAVA_HOME if exist "%JAVA_HOME%\bin\java.exe" set "JAVA=%JAVA_HOME%\bin\java.exe"
if not defined JAVA for %%J in (java.exe) do set "JAVA=%%~$PATH:J"
set "MSG=java not found; install a JDK 17 or set JAVA_HOME"
if not defined JAVA goto die

set "MSG=erl not found on PATH; install Erlang/OTP and add its bin directory to PATH"
for %%E in (erl.exe) do if "%%~$PATH:E"=="" goto die
rem One erl run prints two lines, the jinterface application's directory and epmd's path
rem (nothing when OTP has no jinterface).
set "JINTERFACE_DIR="
set "EPMD="
for /f "usebackq delims=" %%L in (`erl -noshell -eval "case code:lib_dir(jinterface) of D when is_list(D) -> io:put_chars([filename:nativename(D),10,filename:nativename(filename:join([code:root_dir(),atom_to_list('erts-')++erlang:system_info(version),bin,epmd])),10]); _ -> ok end" -s init stop`) do (
  if not defined JINTERFACE_DIR (set "JINTERFACE_DIR=%%L") else if not defined EPMD set "EPMD=%%L"
)
set "MSG=the Erlang/OTP on PATH has no jinterface application; install one that includes it"
if not defined JINTERFACE_DIR goto die
set "JINTERFACE=%JINTERFACE_DIR%\priv\OtpErlang.jar"
set "MSG=%JINTERFACE% not found; install Erlang/OTP with its jinterface application"
if not exist "%JINTERFACE%" goto die

if /i not "%~1"=="node" goto run
rem JInterface never starts epmd; "epmd -daemon" does nothing when one already runs.
set "MSG=could not start %EPMD%"
"%EPMD%" -daemon || goto die

:run
if not defined SNAKEPIT_SHM_LOG_LEVEL set "SNAKEPIT_SHM_LOG_LEVEL=info"
rem JVM defaults first, so SNAKEPIT_SHM_JAVA_OPTS (after them) can override any of them.
"%JAVA%" -XX:+UseParallelGC -Xss4m -Xmx1g %SNAKEPIT_SHM_JAVA_OPTS% ^
  "-Dorg.slf4j.simpleLogger.defaultLogLevel=%SNAKEPIT_SHM_LOG_LEVEL%" ^
  -Dorg.slf4j.simpleLogger.showDateTime=true ^
  "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ" ^
  -Dorg.slf4j.simpleLogger.logFile=System.err ^
  -cp "%JAR%;%LIB%\*;%JINTERFACE%" io.snakepit.shm.cli.Main %*
exit /b %ERRORLEVEL%

:die
echo snakepit-shm: %MSG% 1>&2
exit /b 1
