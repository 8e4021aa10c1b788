package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a finished scenario script left: its exit status and the {@code KEY=VALUE} lines it
 * printed on stdout (later lines win).
 */
final class ScriptResult {
    private static final Pattern RESULT_LINE = Pattern.compile("^([A-Z][A-Za-z0-9_]*)=(.*)$");

    private final int exitStatus;
    private final Map<String, String> values;
    private final String transcript;

    ScriptResult(int exitStatus, String stdout, String transcript) {
        this.exitStatus = exitStatus;
        this.values = parse(stdout);
        this.transcript = transcript;
    }

    /** Parses the {@code KEY=VALUE} lines of {@code stdout}. */
    static Map<String, String> parse(String stdout) {
        Map<String, String> values = new LinkedHashMap<>();
        for (String line : stdout.split("\n")) {
            Matcher matcher = RESULT_LINE.matcher(line);
            if (matcher.matches()) {
                values.put(matcher.group(1), matcher.group(2));
            }
        }
        return values;
    }

    int exitStatus() {
        return exitStatus;
    }

    Map<String, String> values() {
        return values;
    }

    /** Command, status and outputs, for assertion messages. */
    String transcript() {
        return transcript;
    }

    /** Fails the test unless the script exited with status 0. */
    ScriptResult assertSucceeded() {
        if (exitStatus != 0) {
            fail("scenario exited with status " + exitStatus + "\n" + transcript);
        }
        return this;
    }

    /** The value printed for {@code key}; fails the test if the script did not print it. */
    String get(String key) {
        String value = values.get(key);
        if (value == null) {
            return fail("scenario printed no " + key + "=...\n" + transcript);
        }
        return value;
    }

    long getLong(String key) {
        String value = get(key);
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            return fail(key + "=" + value + " is not an integer\n" + transcript);
        }
    }
}
