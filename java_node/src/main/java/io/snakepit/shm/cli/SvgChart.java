package io.snakepit.shm.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A time-series line chart as inline SVG, for the HTML report: lines (optionally with a
 * filled area) over sample times, dashed reference lines (limits, thresholds), a y axis
 * from 0 with tick labels in human units and an x axis with UTC clock times. Text is
 * escaped; the output needs no script and no external resource.
 */
final class SvgChart {
  static final int WIDTH = 560;
  static final int HEIGHT = 210;
  private static final int LEFT = 64;
  private static final int RIGHT = 16;
  private static final int RIGHT_WITH_AXIS = 46;
  private static final int TOP = 14;
  private static final int BOTTOM = 28;
  private static final long[] TIME_STEPS_S = {5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800,
      21_600, 43_200, 86_400};

  /** What the y values are, for the tick labels. */
  enum Unit { BYTES, COUNT, MICROS }

  /**
   * One plotted series; {@code area} fills below it; {@code right} scales it to a second
   * axis on the right (labelled in its colour), for a series much smaller than the others.
   */
  record Line(String name, String color, double[] values, boolean area, boolean right) {}

  /** A dashed horizontal line at {@code value} on the left axis, drawn when it is near the data. */
  record Ref(String name, String color, double value) {}

  private SvgChart() {}

  /**
   * The chart of {@code lines} over {@code timesMs} (at least two samples, in order; each
   * line has one value per sample). A reference line is drawn when it is at most twice
   * the largest value, so it does not squash the data.
   */
  static String render(String title, long[] timesMs, List<Line> lines, List<Ref> refs, Unit unit) {
    double leftMax = 0;
    double rightMax = 0;
    Line rightLine = null;
    for (Line l : lines) {
      for (double v : l.values()) {
        if (l.right()) {
          rightMax = Math.max(rightMax, v);
        } else {
          leftMax = Math.max(leftMax, v);
        }
      }
      if (l.right() && rightLine == null) {
        rightLine = l;
      }
    }
    List<Ref> shown = new ArrayList<>();
    double domainMax = leftMax;
    for (Ref r : refs) {
      if (r.value() > 0 && leftMax > 0 && r.value() <= 2 * leftMax) {
        shown.add(r);
        domainMax = Math.max(domainMax, r.value());
      }
    }
    Axis y = Axis.of(domainMax, unit, 0);
    Axis y2 = rightLine == null ? null : Axis.of(rightMax, unit, y.ticks);
    int right = y2 == null ? RIGHT : RIGHT_WITH_AXIS;
    long t0 = timesMs[0];
    long span = Math.max(1, timesMs[timesMs.length - 1] - t0);
    double plotW = WIDTH - LEFT - right;
    double plotH = HEIGHT - TOP - BOTTOM;
    double bottom = TOP + plotH;

    StringBuilder b = new StringBuilder();
    b.append("<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ").append(WIDTH).append(' ')
        .append(HEIGHT).append("\" role=\"img\" aria-label=\"").append(HtmlReport.esc(title)).append("\">")
        .append("<title>").append(HtmlReport.esc(title)).append("</title>");
    // horizontal grid and y labels (left, and right in the colour of its series)
    for (int i = 0; i <= y.ticks; i++) {
      double py = bottom - (double) i / y.ticks * plotH;
      b.append(String.format(Locale.ROOT, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>",
          LEFT, py, WIDTH - right, py));
      b.append(String.format(Locale.ROOT, "<text class=\"ylab\" x=\"%d\" y=\"%.1f\">%s</text>", LEFT - 6, py + 4,
          HtmlReport.esc(y.label(i * y.step))));
      if (y2 != null) {
        b.append(String.format(Locale.ROOT, "<text class=\"ylab2\" x=\"%d\" y=\"%.1f\" style=\"fill:%s\">%s</text>",
            WIDTH - right + 6, py + 4, HtmlReport.esc(rightLine.color()), HtmlReport.esc(y2.label(i * y2.step))));
      }
    }
    // x ticks: clock times at a round step
    long stepMs = timeStep(span);
    long first = (t0 + stepMs - 1) / stepMs * stepMs;
    for (long t = first; t <= t0 + span; t += stepMs) {
      double px = LEFT + (t - t0) / (double) span * plotW;
      String label = stepMs < 60_000 ? HumanUnits.time(t) : HumanUnits.timeMinutes(t);
      b.append(String.format(Locale.ROOT, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
          px, bottom, px, bottom + 4));
      b.append(String.format(Locale.ROOT, "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%s</text>", px, bottom + 16,
          HtmlReport.esc(label)));
    }
    b.append(String.format(Locale.ROOT, "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", LEFT,
        bottom, WIDTH - right, bottom));
    // series
    for (Line l : lines) {
      double max = l.right() ? y2.max : y.max;
      StringBuilder pts = new StringBuilder();
      double lastX = 0;
      double lastY = 0;
      for (int i = 0; i < timesMs.length; i++) {
        lastX = LEFT + (timesMs[i] - t0) / (double) span * plotW;
        lastY = bottom - Math.max(0, l.values()[i]) / max * plotH;
        if (i > 0) {
          pts.append(' ');
        }
        pts.append(String.format(Locale.ROOT, "%.1f,%.1f", lastX, lastY));
      }
      String color = HtmlReport.esc(l.color());
      if (l.area()) {
        b.append(String.format(Locale.ROOT, "<polygon points=\"%.1f,%.1f %s %.1f,%.1f\" fill=\"%s\" "
            + "fill-opacity=\"0.13\" stroke=\"none\"/>", (double) LEFT, bottom, pts, lastX, bottom, color));
      }
      b.append("<polyline points=\"").append(pts).append("\" fill=\"none\" stroke=\"").append(color)
          .append("\" stroke-width=\"1.8\" stroke-linejoin=\"round\"><title>").append(HtmlReport.esc(l.name()))
          .append("</title></polyline>");
      b.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", lastX, lastY,
          color));
    }
    for (Ref r : shown) {
      double py = bottom - r.value() / y.max * plotH;
      String color = HtmlReport.esc(r.color());
      b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
          + "stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/>", LEFT, py, WIDTH - right, py, color));
      b.append(String.format(Locale.ROOT, "<text class=\"reflab\" x=\"%d\" y=\"%.1f\" style=\"fill:%s\">%s</text>",
          WIDTH - right - 4, py - 4, color, HtmlReport.esc(r.name() + " " + y.label(r.value()))));
    }
    b.append("</svg>");
    return b.toString();
  }

  /** A round x-axis step giving at most 6 ticks over {@code spanMs}. */
  static long timeStep(long spanMs) {
    for (long s : TIME_STEPS_S) {
      if (spanMs / (s * 1000) <= 6) {
        return s * 1000;
      }
    }
    return TIME_STEPS_S[TIME_STEPS_S.length - 1] * 1000;
  }

  /**
   * A y axis from 0: ticks at a round step in the unit that suits the largest value; with
   * {@code ticks > 0}, exactly that many (a right axis sharing the left one's grid lines).
   */
  private record Axis(double max, double step, int ticks, double divisor, String suffix, Unit unit) {
    static Axis of(double dataMax, Unit unit, int ticks) {
      double divisor = 1;
      String suffix = "";
      switch (unit) {
        case BYTES -> {
          int u = HumanUnits.bytesUnit(dataMax);
          divisor = Math.pow(1024, u);
          suffix = " " + HumanUnits.bytesUnitName(u);
        }
        case MICROS -> {
          if (dataMax >= 1_000_000) {
            divisor = 1_000_000;
            suffix = " s";
          } else if (dataMax >= 1000) {
            divisor = 1000;
            suffix = " ms";
          } else {
            suffix = " µs";
          }
        }
        case COUNT -> { }
      }
      double scaled = dataMax / divisor;
      double step = niceStep(scaled / (ticks > 0 ? ticks : 4));
      if (divisor == 1) {
        step = Math.ceil(step); // whole bytes, calls, regions, microseconds: 1, 2, 3, 5, 10, ...
      }
      int n = ticks > 0 ? ticks : (int) Math.max(1, Math.ceil(scaled / step - 1e-9));
      return new Axis(n * step * divisor, step * divisor, n, divisor, suffix, unit);
    }

    /** The label of raw value {@code v}; 0 without a unit. */
    String label(double v) {
      double scaled = v / divisor;
      if (scaled == 0) {
        return "0";
      }
      return (unit == Unit.COUNT ? HumanUnits.shortCount(scaled) : HumanUnits.decimal(scaled)) + suffix;
    }
  }

  /** 1, 2, 2.5 or 5 times a power of ten, at least {@code raw}. */
  static double niceStep(double raw) {
    if (raw <= 0) {
      return 1;
    }
    double mag = Math.pow(10, Math.floor(Math.log10(raw)));
    double r = raw / mag;
    double nice = r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10;
    return nice * mag;
  }
}
