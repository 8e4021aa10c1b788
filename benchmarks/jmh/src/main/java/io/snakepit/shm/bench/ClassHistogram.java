package io.snakepit.shm.bench;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.JMException;
import javax.management.ObjectName;

/**
 * A live-object class histogram of this JVM, taken in-process through the
 * DiagnosticCommand MBean (what {@code jcmd <pid> GC.class_histogram} prints; it runs a
 * full GC first, so only live objects count).
 */
final class ClassHistogram {
  private static final String OWN_PACKAGE = ClassHistogram.class.getPackageName() + ".";
  private static final Pattern LINE = Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)");

  /** Instances and bytes of one class. */
  record Entry(String className, long instances, long bytes) {}

  private final Map<String, Entry> byClass;

  private ClassHistogram(Map<String, Entry> byClass) {
    this.byClass = byClass;
  }

  static ClassHistogram take() {
    String text;
    try {
      text = (String) ManagementFactory.getPlatformMBeanServer().invoke(
          new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
          new Object[] {new String[0]}, new String[] {String[].class.getName()});
    } catch (JMException e) {
      throw new IllegalStateException("GC.class_histogram failed: " + e.getMessage()
          + " (the JVM needs the DiagnosticCommand MBean: a HotSpot JDK)", e);
    }
    Map<String, Entry> m = new HashMap<>();
    for (String line : text.split("\n")) {
      Matcher mt = LINE.matcher(line);
      if (mt.find()) {
        m.put(mt.group(3), new Entry(mt.group(3), Long.parseLong(mt.group(1)), Long.parseLong(mt.group(2))));
      }
    }
    return new ClassHistogram(m);
  }

  /**
   * What this histogram has more than {@code base}, per class; the measuring code's own
   * classes (this package) are left out.
   */
  Diff minus(ClassHistogram base) {
    List<Entry> grown = new ArrayList<>();
    for (Entry e : byClass.values()) {
      if (e.className().startsWith(OWN_PACKAGE)) {
        continue;
      }
      Entry b = base.byClass.get(e.className());
      long inst = e.instances() - (b == null ? 0 : b.instances());
      long bytes = e.bytes() - (b == null ? 0 : b.bytes());
      if (bytes != 0) {
        grown.add(new Entry(e.className(), inst, bytes));
      }
    }
    grown.sort((x, y) -> Long.compare(y.bytes(), x.bytes()));
    return new Diff(grown);
  }

  /** Growth per class, largest first. */
  record Diff(List<Entry> entries) {
    long totalBytes() {
      return entries.stream().mapToLong(Entry::bytes).sum();
    }

    String render(int regions, int top) {
      StringBuilder b = new StringBuilder();
      b.append(String.format("class histogram growth: %d bytes = %.1f bytes per region; top classes:%n", totalBytes(),
          totalBytes() / (double) regions));
      b.append(String.format("  %12s %10s %14s  %s%n", "bytes/region", "inst/region", "bytes", "class"));
      for (Entry e : entries.subList(0, Math.min(top, entries.size()))) {
        b.append(String.format("  %12.1f %10.2f %14d  %s%n", e.bytes() / (double) regions,
            e.instances() / (double) regions, e.bytes(), e.className()));
      }
      return b.toString();
    }
  }
}
