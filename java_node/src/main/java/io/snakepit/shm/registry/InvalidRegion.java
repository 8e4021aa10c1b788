package io.snakepit.shm.registry;

/**
 * A region whose header was found corrupt, for health and the log.
 *
 * @param id          the region id (16 hex digits)
 * @param segment     its segment's shm name
 * @param offset      its payload offset
 * @param reason      what the check found
 * @param detectedMs  when, ms since the Unix epoch
 * @param tenant      the region's tenant, or null (health shows it only to that tenant and operators)
 */
public record InvalidRegion(String id, String segment, long offset, String reason, long detectedMs, String tenant) {}
