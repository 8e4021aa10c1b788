package io.snakepit.shm.cli;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Collection;
import java.util.Map;

/**
 * A small JSON writer for the values {@link TermValues} makes (and records of plain Java
 * values built from them): maps (keys by {@code String.valueOf}), lists and arrays,
 * strings, numbers, booleans and null. Doubles that JSON cannot hold (NaN, infinities)
 * become null. One document per call, on one line ({@link #write}) or indented ({@link #pretty}).
 */
public final class Json {
  private Json() {}

  /** {@code value} as a JSON document on one line (no trailing newline): what {@code --json} prints. */
  public static String write(Object value) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, 0, false);
    return sb.toString();
  }

  /** {@code value} as a JSON document indented by two spaces per level. */
  public static String pretty(Object value) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, 0, true);
    return sb.toString();
  }

  private static void write(StringBuilder sb, Object v, int depth, boolean pretty) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String s) {
      string(sb, s);
    } else if (v instanceof Boolean b) {
      sb.append(b.booleanValue());
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        sb.append("null");
      } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
        sb.append((long) d).append(".0");
      } else {
        sb.append(BigDecimal.valueOf(d).stripTrailingZeros().toString().replace("E+", "E"));
      }
    } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte
        || v instanceof BigInteger) {
      sb.append(v);
    } else if (v instanceof Number n) {
      sb.append(new BigDecimal(n.toString()).toString());
    } else if (v instanceof Map<?, ?> m) {
      if (m.isEmpty()) {
        sb.append("{}");
        return;
      }
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        newline(sb, depth + 1, pretty);
        string(sb, String.valueOf(e.getKey()));
        sb.append(pretty ? ": " : ":");
        write(sb, e.getValue(), depth + 1, pretty);
      }
      newline(sb, depth, pretty);
      sb.append('}');
    } else if (v instanceof Collection<?> c) {
      array(sb, c.toArray(), depth, pretty);
    } else if (v instanceof Object[] a) {
      array(sb, a, depth, pretty);
    } else {
      string(sb, v.toString());
    }
  }

  private static void array(StringBuilder sb, Object[] items, int depth, boolean pretty) {
    if (items.length == 0) {
      sb.append("[]");
      return;
    }
    boolean scalars = true;
    for (Object o : items) {
      scalars &= !(o instanceof Map<?, ?> || o instanceof Collection<?> || o instanceof Object[]);
    }
    sb.append('[');
    for (int i = 0; i < items.length; i++) {
      if (i > 0) {
        sb.append(scalars && pretty ? ", " : ",");
      }
      if (!scalars) {
        newline(sb, depth + 1, pretty);
      }
      write(sb, items[i], depth + 1, pretty);
    }
    if (!scalars) {
      newline(sb, depth, pretty);
    }
    sb.append(']');
  }

  private static void newline(StringBuilder sb, int depth, boolean pretty) {
    if (pretty) {
      sb.append('\n');
      sb.append("  ".repeat(depth));
    }
  }

  /** A JSON string literal: quotes, backslashes and control characters escaped. */
  static void string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}
