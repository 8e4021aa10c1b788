package io.snakepit.shm.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import org.openjdk.jmh.Main;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;

/**
 * The uber-jar's entry point: JMH's own command line (every JMH option works, e.g.
 * {@code -p liveRegions=100000 -prof gc}), then a short summary of the registry
 * benchmarks: p50/p99/p99.9 per live-region count and the 100k/1k ratio.
 *
 * <p>With {@code -Dsnakepit.bench.summary=FILE} the summary is also written to FILE.
 */
public final class BenchMain {
  private BenchMain() {}

  public static void main(String[] args) throws IOException {
    CommandLineOptions cmd;
    try {
      cmd = new CommandLineOptions(args);
    } catch (CommandLineOptionException e) {
      System.err.println("Error parsing command line: " + e.getMessage() + " (run with -h for JMH's options)");
      System.exit(2);
      return;
    }
    if (cmd.shouldHelp() || cmd.shouldList() || cmd.shouldListWithParams() || cmd.shouldListProfilers()
        || cmd.shouldListResultFormats()) {
      Main.main(args);
      return;
    }
    Collection<RunResult> results;
    try {
      results = new Runner(cmd).run();
    } catch (RunnerException e) {
      System.err.println("Benchmark run failed: " + e.getMessage());
      e.printStackTrace(System.err);
      System.exit(1);
      return;
    }
    String summary = LatencySummary.of(results).render();
    System.out.println();
    System.out.print(summary);
    String file = System.getProperty("snakepit.bench.summary");
    if (file != null && !file.isEmpty()) {
      Files.writeString(Path.of(file), summary, StandardCharsets.UTF_8);
    }
  }
}
