package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.security.SecureRandom;
import java.time.Duration;

/**
 * How long a soak runs and with which seed. Duration: system property {@code soak.seconds},
 * else environment variable {@code SOAK_SECONDS}, else {@value #DEFAULT_SECONDS} s of
 * load. Seed: {@code soak.seed}, else {@code SOAK_SEED}, else {@value #DEFAULT_SEED};
 * {@code random} draws a fresh one. The seed drives the chaos plan and every client's
 * choices (process timing still varies from run to run).
 *
 * @param seconds seconds of load (chaos included), at least {@value #MIN_SECONDS}
 * @param seed    the seed, printed so a run can be repeated
 */
record SoakSettings(int seconds, long seed) {
    static final int DEFAULT_SECONDS = 60;
    static final int MIN_SECONDS = 20;
    static final long DEFAULT_SEED = 20_251_126L;

    /** The settings of this run, from system properties and the environment. */
    static SoakSettings fromEnvironment() {
        String secondsText = setting("soak.seconds", "SOAK_SECONDS");
        String seedText = setting("soak.seed", "SOAK_SEED");
        int seconds = DEFAULT_SECONDS;
        long seed = DEFAULT_SEED;
        try {
            if (secondsText != null) {
                seconds = Integer.parseInt(secondsText.trim());
            }
            if ("random".equalsIgnoreCase(seedText)) {
                seed = new SecureRandom().nextLong() & Long.MAX_VALUE;
            } else if (seedText != null) {
                seed = Long.parseLong(seedText.trim());
            }
        } catch (NumberFormatException e) {
            fail("bad soak setting (soak.seconds='" + secondsText + "', soak.seed='" + seedText
                    + "'): use -Dsoak.seconds=N (N >= " + MIN_SECONDS + ") and -Dsoak.seed=N or random");
        }
        if (seconds < MIN_SECONDS) {
            fail("soak.seconds=" + seconds + " is too short for the chaos plan; use at least " + MIN_SECONDS);
        }
        return new SoakSettings(seconds, seed);
    }

    Duration duration() {
        return Duration.ofSeconds(seconds);
    }

    private static String setting(String property, String environment) {
        String value = System.getProperty(property);
        if (value == null || value.isBlank()) {
            value = System.getenv(environment);
        }
        return value == null || value.isBlank() ? null : value;
    }
}
