package io.snakepit.shm.e2e;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The chaos plan of a soak: which process to kill when. Kills of holder processes happen
 * inside the Elixir clients (soak_lane.exs); the harness kills the rest: Python workers,
 * the node and whole client BEAMs, all with SIGKILL.
 */
final class SoakChaos {
    /** Time before the first kill, so every client is running. */
    static final long START_MS = 4_000;
    /** Load without kills at the end, to see the clients carry on after the last one. */
    static final long QUIET_MS = 10_000;
    private static final long MEAN_INTERVAL_MS = 4_000;

    enum Kind {
        PYTHON_WORKER, NODE, BEAM_CLIENT
    }

    /**
     * One kill, {@code atMs} after the load started. A {@code required} one always runs;
     * the others are skipped when earlier kills (node restarts take seconds) made the plan
     * late, so the load still ends on time.
     */
    record Action(long atMs, Kind kind, boolean required) {
    }

    private SoakChaos() {
    }

    /**
     * Kills spread over [{@link #START_MS}, duration − {@link #QUIET_MS}], one every
     * {@value #MEAN_INTERVAL_MS} ms on average, jittered. Required: two node kills, one
     * client kill and three worker kills (more in longer runs); the rest drawn at random
     * (half of them worker kills).
     */
    static List<Action> plan(Random random, SoakSettings settings) {
        long windowMs = windowEndMs(settings) - START_MS;
        long windowS = windowMs / 1000;
        List<Kind> required = new ArrayList<>();
        addCopies(required, Kind.NODE, Math.max(2, windowS / 25));
        addCopies(required, Kind.BEAM_CLIENT, Math.max(1, windowS / 35));
        addCopies(required, Kind.PYTHON_WORKER, Math.max(3, windowS / 15));
        List<Action> unplaced = new ArrayList<>();
        required.forEach(kind -> unplaced.add(new Action(0, kind, true)));
        long count = Math.max(required.size(), windowMs / MEAN_INTERVAL_MS);
        while (unplaced.size() < count) {
            double draw = random.nextDouble();
            Kind kind = draw < 0.5 ? Kind.PYTHON_WORKER : draw < 0.75 ? Kind.NODE : Kind.BEAM_CLIENT;
            unplaced.add(new Action(0, kind, false));
        }
        Collections.shuffle(unplaced, random);
        double slotMs = (double) windowMs / unplaced.size();
        List<Action> plan = new ArrayList<>();
        for (int i = 0; i < unplaced.size(); i++) {
            long atMs = START_MS + (long) (slotMs * (i + 0.1 + 0.8 * random.nextDouble()));
            plan.add(new Action(atMs, unplaced.get(i).kind(), unplaced.get(i).required()));
        }
        return plan;
    }

    /** When the kills end: {@link #QUIET_MS} before the end of the load. */
    static long windowEndMs(SoakSettings settings) {
        return settings.seconds() * 1000L - QUIET_MS;
    }

    private static void addCopies(List<Kind> kinds, Kind kind, long copies) {
        for (long i = 0; i < copies; i++) {
            kinds.add(kind);
        }
    }
}
