package io.snakepit.shm.cli;

import java.util.ArrayList;
import java.util.List;

/**
 * An aligned text table for operators: a header row, then rows; columns are as wide as
 * their widest cell, separated by two spaces; columns marked numeric are right-aligned.
 * Cells longer than {@link #MAX_CELL} characters are cut with an ellipsis, except in the
 * last column, which nothing follows.
 */
final class TextTable {
  static final int MAX_CELL = 72;

  private final String[] headers;
  private final boolean[] right;
  private final List<String[]> rows = new ArrayList<>();

  /** Headers; a header starting with {@code >} marks a right-aligned (numeric) column. */
  TextTable(String... headers) {
    this.headers = new String[headers.length];
    this.right = new boolean[headers.length];
    for (int i = 0; i < headers.length; i++) {
      right[i] = headers[i].startsWith(">");
      this.headers[i] = right[i] ? headers[i].substring(1) : headers[i];
    }
  }

  TextTable row(Object... cells) {
    String[] r = new String[headers.length];
    for (int i = 0; i < r.length; i++) {
      String c = i < cells.length && cells[i] != null ? cells[i].toString() : "";
      r[i] = c.length() > MAX_CELL && i < r.length - 1 ? c.substring(0, MAX_CELL - 1) + "…" : c;
    }
    rows.add(r);
    return this;
  }

  boolean isEmpty() {
    return rows.isEmpty();
  }

  /** The table, each line indented by {@code indent} spaces and ending with a newline. */
  String render(int indent) {
    int[] width = new int[headers.length];
    for (int i = 0; i < headers.length; i++) {
      width[i] = headers[i].length();
      for (String[] r : rows) {
        width[i] = Math.max(width[i], r[i].codePointCount(0, r[i].length()));
      }
    }
    StringBuilder sb = new StringBuilder();
    line(sb, headers, width, indent);
    for (String[] r : rows) {
      line(sb, r, width, indent);
    }
    return sb.toString();
  }

  private void line(StringBuilder sb, String[] cells, int[] width, int indent) {
    StringBuilder l = new StringBuilder(" ".repeat(indent));
    for (int i = 0; i < cells.length; i++) {
      String c = cells[i];
      int pad = width[i] - c.codePointCount(0, c.length());
      if (i > 0) {
        l.append("  ");
      }
      if (right[i]) {
        l.append(" ".repeat(pad)).append(c);
      } else {
        l.append(c);
        if (i < cells.length - 1) {
          l.append(" ".repeat(pad));
        }
      }
    }
    sb.append(l.toString().stripTrailing()).append('\n');
  }

  // ---------------------------------------------------------------- cell formats

  /** How long ago {@code epochMs} was: {@code now}, {@code 12s ago}, {@code 3m ago}, {@code 2h ago}, {@code 4d ago}. */
  static String ago(long epochMs, long nowMs) {
    if (epochMs <= 0) {
      return "-";
    }
    long s = (nowMs - epochMs) / 1000;
    if (s < 0) {
      return "in the future";
    }
    if (s < 1) {
      return "now";
    }
    if (s < 60) {
      return s + "s ago";
    }
    if (s < 3600) {
      return s / 60 + "m ago";
    }
    if (s < 86_400) {
      return s / 3600 + "h ago";
    }
    return s / 86_400 + "d ago";
  }

  /** Bytes in binary units ({@code 1.5 KiB}); {@code -} for a negative or missing value. */
  static String bytes(Object n) {
    return n instanceof Number v && v.longValue() >= 0 ? HumanUnits.bytes(v.doubleValue()) : "-";
  }

  /** {@code value} or {@code -} for null or empty. */
  static String orDash(Object value) {
    return value == null || value.toString().isEmpty() ? "-" : value.toString();
  }
}
