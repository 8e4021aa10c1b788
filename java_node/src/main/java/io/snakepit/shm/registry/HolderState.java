package io.snakepit.shm.registry;

import java.util.ArrayList;
import java.util.List;

/**
 * One holder's standing: the regions it holds (a list of {@link RefNode}s) and their bytes,
 * looked up once per call. Owned by the registry's owner thread.
 */
final class HolderState {
  final Holder holder;
  /** Payload bytes of the regions held (each region counted once). */
  long bytes;
  int regionCount;
  private RefNode head;

  HolderState(Holder holder) {
    this.holder = holder;
  }

  void link(RefNode n) {
    n.prevInHolder = null;
    n.nextInHolder = head;
    if (head != null) {
      head.prevInHolder = n;
    }
    head = n;
    regionCount++;
    bytes += n.region.sizeBytes();
  }

  void unlink(RefNode n) {
    if (n.prevInHolder != null) {
      n.prevInHolder.nextInHolder = n.nextInHolder;
    } else {
      head = n.nextInHolder;
    }
    if (n.nextInHolder != null) {
      n.nextInHolder.prevInHolder = n.prevInHolder;
    }
    n.prevInHolder = null;
    n.nextInHolder = null;
    regionCount--;
    bytes -= n.region.sizeBytes();
  }

  /** A copy of the nodes, safe to iterate while unlinking. */
  List<RefNode> nodes() {
    List<RefNode> out = new ArrayList<>(regionCount);
    for (RefNode n = head; n != null; n = n.nextInHolder) {
      out.add(n);
    }
    return out;
  }
}
