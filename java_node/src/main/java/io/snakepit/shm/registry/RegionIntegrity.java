package io.snakepit.shm.registry;

import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.segment.RegionHeaderLayout;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks that each region's header in shared memory still says what the registry knows
 * (magic, CRC-32, id, generation, size, offset, state), on acquire and by a scan that
 * continues where it stopped; marks a corrupt region invalid (isolated, reported), per
 * MEMORY_LAYOUT.md "Integrity" and OPERATIONS.md "Corruption".
 *
 * <p>Thread-safety: none; owned by the registry's owner thread.
 */
final class RegionIntegrity {
  private static final Logger LOG = LoggerFactory.getLogger(RegionIntegrity.class);
  private static final int MAX_INVALID_REPORTED = 100;

  private final List<InvalidRegion> invalidReported = new ArrayList<>();
  private int invalidLive;
  private int cursor;
  private long headersChecked;
  /** Told of each region found invalid (the registry records it in the region's history). */
  private final java.util.function.ObjLongConsumer<Region> onInvalid;

  RegionIntegrity(java.util.function.ObjLongConsumer<Region> onInvalid) {
    this.onInvalid = onInvalid;
  }

  /** Regions found corrupt since start (the newest {@link #MAX_INVALID_REPORTED}). */
  List<InvalidRegion> invalidRegions() {
    return new ArrayList<>(invalidReported);
  }

  /** Regions now live whose headers were found corrupt. */
  int invalidLiveCount() {
    return invalidLive;
  }

  /** Headers checked by the periodic integrity check since start. */
  long headersChecked() {
    return headersChecked;
  }

  /**
   * Compares a region's header in shared memory with the registry: magic, CRC, id,
   * generation, size, offset. A mismatch marks the region invalid and throws
   * {@code :invalid_region}.
   */
  void check(Region r, long nowMs) {
    if (r.state() == Region.State.INVALID) {
      throw invalidRegion(r);
    }
    String problem = headerProblem(r);
    if (problem != null) {
      markInvalid(r, problem, nowMs);
      throw invalidRegion(r);
    }
  }

  private String headerProblem(Region r) {
    String[] problem = new String[1];
    try {
      r.segment().access(r.headerOffsetBytes(), RegionHeaderLayout.HEADER_BYTES, (m, at, len) -> {
        RegionHeaderLayout.Header h = RegionHeaderLayout.read(m, at);
        if (h == null) {
          problem[0] = "region header magic or layout overwritten";
        } else if (!h.crcValid()) {
          problem[0] = "region header CRC-32 mismatch";
        } else if (h.regionId() != r.id() || h.generation() != r.generation() || h.payloadBytes() != r.sizeBytes()
            || h.payloadOffset() != r.payloadOffsetBytes()) {
          problem[0] = "region header names another region (id " + Long.toHexString(h.regionId()) + ", generation "
              + h.generation() + ")";
        } else if (h.state() != RegionHeaderLayout.STATE_LIVE) {
          problem[0] = "region header state is " + h.state() + ", not live";
        }
      });
    } catch (PlatformException | IllegalStateException | IndexOutOfBoundsException e) {
      problem[0] = "region header unreadable: " + e.getMessage();
    }
    return problem[0];
  }

  private void markInvalid(Region r, String reason, long nowMs) {
    if (r.state() == Region.State.INVALID) {
      return;
    }
    r.markInvalid();
    invalidLive++;
    onInvalid.accept(r, nowMs);
    try {
      r.segment().access(r.headerOffsetBytes(), RegionHeaderLayout.HEADER_BYTES, (m, at, len) -> {
        if (RegionHeaderLayout.read(m, at) != null) {
          RegionHeaderLayout.writeState(m, at, RegionHeaderLayout.STATE_INVALID);
        }
      });
    } catch (PlatformException | IllegalStateException | IndexOutOfBoundsException e) {
      // the header is unreachable; the registry's mark is what isolates the region
    }
    if (invalidReported.size() == MAX_INVALID_REPORTED) {
      invalidReported.remove(0);
    }
    invalidReported.add(new InvalidRegion(r.idText(), r.segment().shmName(), r.payloadOffsetBytes(), reason, nowMs,
        r.tenant()));
    LOG.error("region {} (segment {}, offset {}, {} bytes, tenant {}, session {}, holders {}) is invalid: {}; it is "
        + "isolated and its memory will not be reused", r.idText(), r.segment().shmName(), r.payloadOffsetBytes(),
        r.sizeBytes(), r.tenant(), r.session(), r.holders().keySet(), reason);
  }

  private static ShmException invalidRegion(Region r) {
    return ShmException.of(ErrorCode.INVALID_REGION, "region " + r.idText() + " is invalid: its header in "
        + r.segment().shmName() + " was found corrupt",
        "Do not use its bytes; release it and allocate a new region. See docs/OPERATIONS.md, \"Corruption\".")
        .with("id", r.idText());
  }

  /** Checks the headers of up to {@code budget} regions, continuing where the last call stopped. */
  int scan(RegionTable regions, int budget, long nowMs) {
    int found = 0;
    int slots = regions.slotCount();
    for (int i = 0; i < budget && slots > 0; i++) {
      cursor = (cursor + 1) % slots;
      Region r = regions.slotAt(cursor);
      if (r == null || r.state() == Region.State.INVALID) {
        continue;
      }
      headersChecked++;
      String problem = headerProblem(r);
      if (problem != null) {
        markInvalid(r, problem + " (periodic check)", nowMs);
        found++;
      }
    }
    return found;
  }

  /** A deallocated invalid region leaves the live count. */
  void forget(Region r) {
    if (r.state() == Region.State.INVALID) {
      invalidLive--;
    }
  }
}
