package io.snakepit.shm.cli;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * Numbers as an operator reads them: bytes in binary units (KiB, MiB, GiB), durations in
 * ns/µs/ms/s, counts with thousands separators, times in UTC. Independent of the JVM's
 * locale and time zone.
 */
final class HumanUnits {
  private static final String[] BYTE_UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  private static final DateTimeFormatter DATE_TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss 'UTC'", Locale.ROOT).withZone(ZoneOffset.UTC);
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("HH:mm:ss", Locale.ROOT).withZone(ZoneOffset.UTC);
  private static final DateTimeFormatter TIME_MINUTES =
      DateTimeFormatter.ofPattern("HH:mm", Locale.ROOT).withZone(ZoneOffset.UTC);

  private HumanUnits() {}

  /** {@code 1536} -> {@code "1.5 KiB"}, {@code 12} -> {@code "12 B"}. */
  static String bytes(double bytes) {
    int unit = bytesUnit(Math.abs(bytes));
    if (unit == 0) {
      return String.format(Locale.ROOT, "%.0f B", bytes);
    }
    return decimal(bytes / Math.pow(1024, unit)) + " " + BYTE_UNITS[unit];
  }

  /** The index in B, KiB, MiB, ... of the unit in which {@code bytes} is at least 1. */
  static int bytesUnit(double bytes) {
    int unit = 0;
    while (bytes >= 1024 && unit < BYTE_UNITS.length - 1) {
      bytes /= 1024;
      unit++;
    }
    return unit;
  }

  static String bytesUnitName(int unit) {
    return BYTE_UNITS[unit];
  }

  /** A duration given in nanoseconds: {@code "850 ns"}, {@code "12.5 µs"}, {@code "3.1 ms"}. */
  static String nanos(double ns) {
    return ns < 1000 ? String.format(Locale.ROOT, "%.0f ns", ns) : micros(ns / 1000);
  }

  /** A duration given in microseconds: {@code "850 µs"}, {@code "1.2 ms"}, {@code "2.5 s"}. */
  static String micros(double us) {
    if (us < 1000) {
      return decimal(us) + " µs";
    }
    if (us < 1_000_000) {
      return decimal(us / 1000) + " ms";
    }
    return decimal(us / 1_000_000) + " s";
  }

  /** A duration in milliseconds, coarsely: {@code "3 d 4 h"}, {@code "2 h 5 min"}, {@code "12 s"}. */
  static String duration(long ms) {
    if (ms < 1000) {
      return ms + " ms";
    }
    long s = ms / 1000;
    if (s < 60) {
      return s + " s";
    }
    if (s < 3600) {
      return s / 60 + " min " + s % 60 + " s";
    }
    if (s < 86_400) {
      return s / 3600 + " h " + s % 3600 / 60 + " min";
    }
    return s / 86_400 + " d " + s % 86_400 / 3600 + " h";
  }

  /** {@code 1234567} -> {@code "1,234,567"}. */
  static String count(long n) {
    return String.format(Locale.ROOT, "%,d", n);
  }

  /** A count kept short for an axis: {@code 1500} -> {@code "1.5k"}, {@code 2000000} -> {@code "2M"}. */
  static String shortCount(double n) {
    double a = Math.abs(n);
    if (a >= 1e9) {
      return decimal(n / 1e9) + "G";
    }
    if (a >= 1e6) {
      return decimal(n / 1e6) + "M";
    }
    if (a >= 1e4) {
      return decimal(n / 1e3) + "k";
    }
    return decimal(n);
  }

  /** A ratio (0.425) as a percentage: {@code "42.5 %"}. */
  static String percent(double ratio) {
    return decimal(ratio * 100) + " %";
  }

  static String dateTime(long epochMs) {
    return DATE_TIME.format(Instant.ofEpochMilli(epochMs));
  }

  static String time(long epochMs) {
    return TIME.format(Instant.ofEpochMilli(epochMs));
  }

  static String timeMinutes(long epochMs) {
    return TIME_MINUTES.format(Instant.ofEpochMilli(epochMs));
  }

  /** At most three significant digits before the point, at most two after, no trailing zeros. */
  static String decimal(double v) {
    double a = Math.abs(v);
    String s = a >= 100 || a == Math.rint(a) ? String.format(Locale.ROOT, "%.0f", v)
        : a >= 10 ? String.format(Locale.ROOT, "%.1f", v) : String.format(Locale.ROOT, "%.2f", v);
    if (s.contains(".")) {
      s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
    }
    return s.equals("-0") ? "0" : s;
  }
}
