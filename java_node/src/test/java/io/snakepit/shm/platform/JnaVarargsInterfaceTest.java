package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * MacOsPlatform calls the variadic shm_open through a private nested JNA Library interface
 * with a Java varargs method. This checks, against Linux libc, that JNA loads such a
 * non-public interface and passes the variadic arguments (snprintf). It cannot check
 * macOS arm64's stack-passing of variadic arguments, which needs a Mac.
 */
class JnaVarargsInterfaceTest {
  private interface Printf extends Library {
    int snprintf(byte[] buffer, long size, String format, Object... args);
  }

  @Test
  void aPrivateVarargsInterfacePassesTheVariadicArguments() {
    Printf libc = Native.load(Platform.C_LIBRARY_NAME, Printf.class);
    byte[] buffer = new byte[32];

    int n = libc.snprintf(buffer, buffer.length, "%s %o %d", "/snkabc", 0600, 42);

    assertEquals("/snkabc 600 42", new String(buffer, 0, n, StandardCharsets.US_ASCII));
  }
}
