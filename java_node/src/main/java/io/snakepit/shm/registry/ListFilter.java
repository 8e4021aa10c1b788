package io.snakepit.shm.registry;

/**
 * Which regions {@code list} returns; null fields match anything.
 *
 * @param session  only regions of this session
 * @param tenant   only regions of this tenant
 * @param label    only regions with this label
 * @param holder   only regions this holder holds
 * @param limit    at most this many regions
 * @param tenantExact when true, a null {@code tenant} matches only regions without a tenant
 */
public record ListFilter(String session, String tenant, String label, Holder holder, int limit,
    boolean tenantExact) {
  public static final int DEFAULT_LIMIT = 1000;

  /**
   * This filter for a caller that is not an operator: the tenant is a requirement, not a
   * wildcard (no tenant matches only regions without one).
   */
  public ListFilter onlyTenant() {
    return new ListFilter(session, tenant, label, holder, limit, true);
  }

  public ListFilter(String session, String tenant, String label, Holder holder, int limit) {
    this(session, tenant, label, holder, limit, false);
  }

  public boolean matches(Region r) {
    return (session == null || session.equals(r.session()))
        && (tenant == null ? !tenantExact || r.tenant() == null : tenant.equals(r.tenant()))
        && (label == null || label.equals(r.label()))
        && (holder == null || r.isHeldBy(holder));
  }
}
