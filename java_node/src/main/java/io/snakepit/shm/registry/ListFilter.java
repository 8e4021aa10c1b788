package io.snakepit.shm.registry;

/**
 * Which regions {@code list} returns; null fields match anything.
 *
 * @param session  only regions of this session
 * @param tenant   only regions of this tenant
 * @param label    only regions with this label
 * @param holder   only regions this holder holds
 * @param limit    at most this many regions
 */
public record ListFilter(String session, String tenant, String label, Holder holder, int limit) {
  public static final int DEFAULT_LIMIT = 1000;

  public boolean matches(Region r) {
    return (session == null || session.equals(r.session()))
        && (tenant == null || tenant.equals(r.tenant()))
        && (label == null || label.equals(r.label()))
        && (holder == null || r.isHeldBy(holder));
  }
}
