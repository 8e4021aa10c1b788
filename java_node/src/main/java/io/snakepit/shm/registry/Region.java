package io.snakepit.shm.registry;

import io.snakepit.shm.segment.Segment;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One region: a payload inside a segment, its holders and its metadata. Mutable; owned by
 * the registry's owner thread, which is the only thread that reads or writes it.
 */
public final class Region {
  /** Lifecycle as seen by callers. */
  public enum State {
    /** Acquirable. */
    LIVE("live"),
    /** {@code free} was called: no new acquires; deallocated when the last reference goes. */
    FREED("freed"),
    /** Its header was found corrupt: isolated, no new acquires, its memory never reused. */
    INVALID("invalid");

    private final String atom;

    State(String atom) {
      this.atom = atom;
    }

    public String atom() {
      return atom;
    }
  }

  private final long id;
  private final long generation;
  private final Segment segment;
  private final long headerOffsetBytes;
  private final long sizeBytes;
  private final long blockBytes;
  private final boolean sensitive;
  private final String tenant;
  private final String session;
  private final String label;
  private final Access access;
  private final long ttlMs;
  private final long createdMs;
  /** Holders' references, in the order they first held (see {@link RefNode}). */
  private RefNode refs;
  private RefNode refsTail;
  private State state = State.LIVE;
  /** Sum of the references of all holders. */
  int refcount;
  private long lastAccessMs;
  private long accessCount;
  /** The last events of this region, or null when history is off ({@code history_events} 0). */
  RegionHistory history;
  /** The capability token (CapabilityToken), set once right after construction. */
  private long tokenHi;
  private long tokenLo;
  /** Where the region sits in a pooled segment, or null for a dedicated segment. */
  PoolAllocator.Block poolBlock;
  /** When the grace period ends, or -1 while referenced. */
  long deallocateAtMs = -1;
  boolean deallocated;

  Region(long id, long generation, Segment segment, long headerOffsetBytes, long sizeBytes, long blockBytes,
      boolean sensitive, String tenant, String session, String label, Access access, long ttlMs, long createdMs) {
    this.id = id;
    this.generation = generation;
    this.segment = segment;
    this.headerOffsetBytes = headerOffsetBytes;
    this.sizeBytes = sizeBytes;
    this.blockBytes = blockBytes;
    this.sensitive = sensitive;
    this.tenant = tenant;
    this.session = session;
    this.label = label;
    this.access = access;
    this.ttlMs = ttlMs;
    this.createdMs = createdMs;
    this.lastAccessMs = createdMs;
  }

  /** The id on the wire: 16 lowercase hex digits. */
  public static String formatId(long id) {
    String hex = Long.toHexString(id);
    return "0".repeat(16 - hex.length()) + hex;
  }

  public long id() {
    return id;
  }

  public String idText() {
    return formatId(id);
  }

  private byte[] idBytes;

  /** {@link #idText()} as ASCII bytes, computed once. */
  public byte[] idBytes() {
    if (idBytes == null) {
      idBytes = idText().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }
    return idBytes;
  }

  public long generation() {
    return generation;
  }

  /** The region's recent events, oldest first (empty when history is off). */
  public java.util.List<RegionHistory.Entry> history() {
    return history == null ? java.util.List.of() : history.entries();
  }

  void token(long hi, long lo) {
    tokenHi = hi;
    tokenLo = lo;
  }

  /** The capability token as on the wire: 32 hex digits. Only descriptors carry it. */
  public String tokenText() {
    return CapabilityToken.format(tokenHi, tokenLo);
  }

  /** True when {@code presented} is this region's token (constant-time). */
  boolean tokenMatches(String presented) {
    return CapabilityToken.matches(presented, tokenHi, tokenLo);
  }

  public Segment segment() {
    return segment;
  }

  /** Offset of the region header in the segment file. */
  public long headerOffsetBytes() {
    return headerOffsetBytes;
  }

  /** Offset of the first payload byte in the segment file (a multiple of 64). */
  public long payloadOffsetBytes() {
    return headerOffsetBytes + RegionLayoutMath.BLOCK_OVERHEAD_BYTES;
  }

  /** Exact payload size asked for. */
  public long sizeBytes() {
    return sizeBytes;
  }

  /** Bytes the region occupies in its segment: header plus aligned payload. */
  public long blockBytes() {
    return blockBytes;
  }

  public boolean sensitive() {
    return sensitive;
  }

  public String tenant() {
    return tenant;
  }

  public String session() {
    return session;
  }

  public String label() {
    return label;
  }

  /** The access the region was allocated with. */
  public Access access() {
    return access;
  }

  /** Time to live, or 0 for none. */
  public long ttlMs() {
    return ttlMs;
  }

  public long createdMs() {
    return createdMs;
  }

  public State state() {
    return state;
  }

  void markFreed() {
    if (state != State.INVALID) {
      state = State.FREED;
    }
  }

  void markInvalid() {
    state = State.INVALID;
  }

  public int refcount() {
    return refcount;
  }

  /** Holders and their reference counts, in the order they first held (a new map). */
  public Map<Holder, Integer> holders() {
    Map<Holder, Integer> out = new LinkedHashMap<>();
    for (RefNode n = refs; n != null; n = n.nextInRegion) {
      out.put(n.holder.holder, n.count);
    }
    return out;
  }

  public long lastAccessMs() {
    return lastAccessMs;
  }

  /** Number of allocate and acquire calls that handed this region out. */
  public long accessCount() {
    return accessCount;
  }

  void recordAccess(long nowMs) {
    lastAccessMs = nowMs;
    accessCount++;
  }

  /** The node of {@code holder}'s references, or null when it holds none. */
  RefNode refOf(HolderState holder) {
    for (RefNode n = refs; n != null; n = n.nextInRegion) {
      if (n.holder == holder) {
        return n;
      }
    }
    return null;
  }

  /** The nodes of all holders, a copy safe to iterate while unlinking. */
  java.util.List<RefNode> refNodes() {
    java.util.List<RefNode> out = new java.util.ArrayList<>(2);
    for (RefNode n = refs; n != null; n = n.nextInRegion) {
      out.add(n);
    }
    return out;
  }

  void linkRef(RefNode n) {
    n.nextInRegion = null;
    if (refsTail == null) {
      refs = n;
    } else {
      refsTail.nextInRegion = n;
    }
    refsTail = n;
  }

  void unlinkRef(RefNode n) {
    RefNode prev = null;
    for (RefNode c = refs; c != null; prev = c, c = c.nextInRegion) {
      if (c == n) {
        if (prev == null) {
          refs = c.nextInRegion;
        } else {
          prev.nextInRegion = c.nextInRegion;
        }
        if (refsTail == c) {
          refsTail = prev;
        }
        c.nextInRegion = null;
        return;
      }
    }
  }

  /** True when {@code h} holds at least one reference. */
  public boolean isHeldBy(Holder h) {
    for (RefNode n = refs; n != null; n = n.nextInRegion) {
      if (n.holder.holder.equals(h)) {
        return true;
      }
    }
    return false;
  }
}
