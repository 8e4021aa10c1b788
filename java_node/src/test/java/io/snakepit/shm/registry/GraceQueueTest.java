package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GraceQueueTest {
  private static Region region(long id) {
    return new Region(id, id, null, 0, 1, 128, false, null, null, null, Access.READ_WRITE, 0, 0);
  }

  @Test
  void deadlinesComeOutInOrderEvenAfterTheGracePeriodIsLowered() {
    GraceQueue q = new GraceQueue();
    for (int i = 0; i < 3000; i++) {
      q.add(1000 + i, region(i));
    }
    // grace lowered: later calls bring earlier deadlines
    q.add(1500, region(9001));
    q.add(10, region(9002));
    List<Long> out = new ArrayList<>();
    while (!q.isEmpty()) {
      out.add(q.headDeadline());
      q.pop();
    }
    assertEquals(3002, out.size());
    for (int i = 1; i < out.size(); i++) {
      assertTrue(out.get(i - 1) <= out.get(i), "out of order at " + i);
    }
    assertEquals(10L, out.get(0));
  }

  @Test
  void wrapsAroundAndGrows() {
    GraceQueue q = new GraceQueue();
    long t = 0;
    for (int round = 0; round < 10; round++) {
      for (int i = 0; i < 700; i++) {
        q.add(t++, region(i));
      }
      for (int i = 0; i < 500; i++) {
        q.pop();
      }
    }
    long last = -1;
    int n = 0;
    while (!q.isEmpty()) {
      assertTrue(q.headDeadline() > last);
      last = q.headDeadline();
      q.pop();
      n++;
    }
    assertEquals(2000, n);
  }
}
