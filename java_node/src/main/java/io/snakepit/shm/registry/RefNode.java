package io.snakepit.shm.registry;

/**
 * The references one holder has to one region. Each node sits in two lists: its region's
 * (singly linked, in the order holders first held it) and its holder's (doubly linked),
 * so adding, dropping and a holder's death cost no hash lookups beyond the holder's own.
 * Owned by the registry's owner thread.
 */
final class RefNode {
  final Region region;
  final HolderState holder;
  int count;
  /** True once any of these references was taken with {@code :read_write} access. */
  boolean mayWrite;
  RefNode nextInRegion;
  RefNode prevInHolder;
  RefNode nextInHolder;

  RefNode(Region region, HolderState holder) {
    this.region = region;
    this.holder = holder;
  }
}
