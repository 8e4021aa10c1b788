package io.snakepit.shm.e2e;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInfo;

/** Base of the end-to-end tests: a fresh {@link E2eHarness} per test, always closed. */
abstract class E2eTest {
    /** The current test's harness. */
    protected E2eHarness harness;

    @BeforeEach
    void createHarness(TestInfo info) {
        String method = info.getTestMethod().map(m -> m.getName()).orElse("test");
        harness = E2eHarness.create(getClass().getSimpleName() + "." + method);
    }

    @AfterEach
    void closeHarness() {
        if (harness != null) {
            harness.close();
        }
    }
}
