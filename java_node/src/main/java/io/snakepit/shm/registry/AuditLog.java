package io.snakepit.shm.registry;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The optional audit log: one JSON object per line for every region event and every
 * security event, appended to a file of mode 0600 ({@code --audit-log FILE}). Lines are
 * buffered and flushed by {@link #flush()} (the node calls it about once a second and at
 * shutdown), so writing costs the owner thread no system call per event. A write error
 * is logged once and the audit log turns itself off; it never stops the node.
 *
 * <pre>
 * {"at_ms":1764130000123,"event":"acquired","id":"0000a1b2c3d4e5f6","who":"#PID&lt;app@host.91.0.0&gt;",
 *  "size":4096,"tenant":"t1","session":null}
 * {"at_ms":1764130000150,"event":"security","kind":"bad_token","call":"acquire","id":"...",
 *  "who":"...","tenant":null,"detail":"token does not match"}
 * </pre>
 *
 * <p>Thread-safety: none; used on the registry's owner thread.
 */
public final class AuditLog implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
  private final Path file;
  private BufferedWriter out;
  private long linesWritten;

  private AuditLog(Path file, BufferedWriter out) {
    this.file = file;
    this.out = out;
  }

  /**
   * Opens {@code file} for appending, creating it first for its owner only (mode 0600, or
   * an owner-only ACL where there are no POSIX modes).
   */
  public static AuditLog open(Path file) throws IOException {
    if (!Files.exists(file)) {
      io.snakepit.shm.segment.PrivatePaths.createFile(file);
    }
    return new AuditLog(file, Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND,
        StandardOpenOption.WRITE));
  }

  public Path file() {
    return file;
  }

  public long linesWritten() {
    return linesWritten;
  }

  void regionEvent(Region r, RegionEvent e, Holder who, long atMs) {
    StringBuilder b = new StringBuilder(200).append("{\"at_ms\":").append(atMs).append(",\"event\":\"")
        .append(e.atom()).append("\",\"id\":\"").append(r.idText()).append("\",\"who\":");
    string(b, who == null ? null : who.toString());
    b.append(",\"size\":").append(r.sizeBytes()).append(",\"tenant\":");
    string(b, r.tenant());
    b.append(",\"session\":");
    string(b, r.session());
    write(b.append('}'));
  }

  void securityEvent(SecurityEvent e) {
    StringBuilder b = new StringBuilder(200).append("{\"at_ms\":").append(e.atMs())
        .append(",\"event\":\"security\",\"kind\":\"").append(e.kind().atom()).append("\",\"call\":");
    string(b, e.call());
    b.append(",\"id\":");
    string(b, e.regionId());
    b.append(",\"who\":");
    string(b, e.who());
    b.append(",\"tenant\":");
    string(b, e.tenant());
    b.append(",\"detail\":");
    string(b, e.detail());
    write(b.append('}'));
  }

  private void write(CharSequence line) {
    if (out == null) {
      return;
    }
    try {
      out.append(line).append('\n');
      linesWritten++;
    } catch (IOException e) {
      fail(e);
    }
  }

  /** Writes buffered lines to the file. */
  public void flush() {
    if (out == null) {
      return;
    }
    try {
      out.flush();
    } catch (IOException e) {
      fail(e);
    }
  }

  private void fail(IOException e) {
    LOG.error("audit log {} failed ({}); audit logging is off from now on", file, e.toString());
    try {
      out.close();
    } catch (IOException ignored) {
      // already failing
    }
    out = null;
  }

  @Override
  public void close() {
    flush();
    if (out != null) {
      try {
        out.close();
      } catch (IOException e) {
        LOG.warn("closing audit log {}: {}", file, e.toString());
      }
      out = null;
    }
  }

  /** Appends {@code s} as a JSON string (or null). */
  static void string(StringBuilder b, String s) {
    if (s == null) {
      b.append("null");
      return;
    }
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    b.append('"');
  }
}
