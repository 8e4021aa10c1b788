package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every malformed request gets an {@code {:error, %{code: _, message: _}}} reply with the
 * documented code, and the node keeps serving: a canary region is untouched, a valid
 * allocate/release works, health is ok and no region is left.
 */
class MalformedRequestsIT extends E2eTest {
    private static final int MIN_CASES = 20;

    @Test
    void malformedRequestsGetErrorRepliesAndTheNodeKeepsServing() {
        harness.startNode();
        ScriptResult result = harness.runElixir("malformed");

        List<Map.Entry<String, String>> cases = result.values().entrySet().stream()
                .filter(entry -> entry.getKey().startsWith("CASE_")).toList();
        List<String> bad = cases.stream().filter(entry -> entry.getValue().startsWith("BAD:"))
                .map(entry -> entry.getKey() + " -> " + abbreviate(entry.getValue())).toList();
        assertEquals(List.of(), bad, "requests without the expected error reply; node log:\n"
                + harness.node().describeOutput());
        result.assertSucceeded();
        assertTrue(cases.size() >= MIN_CASES, "only " + cases.size() + " malformed requests were tried");
        assertEquals(result.getLong("CASES"), cases.size());
        assertEquals("invalid_request", result.get("SYS_GET_STATE"));
        assertEquals("ok", result.get("CANARY"));
        assertEquals("ok", result.get("VALID"));
        assertEquals("ok", result.get("HEALTH"));
        assertEquals(0, result.getLong("REGIONS"), "regions left after the malformed barrage");
        assertTrue(harness.node().isAlive(), harness.node().describeOutput());
    }

    private static String abbreviate(String text) {
        return text.length() <= 160 ? text : text.substring(0, 160) + "...";
    }
}
