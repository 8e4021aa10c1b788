package io.snakepit.shm.registry;

/**
 * A validated allocation request.
 *
 * @param sizeBytes payload bytes, positive
 * @param holder    who holds the first reference
 * @param session   session id or null
 * @param tenant    tenant or null
 * @param sensitive zero the bytes before the memory is released
 * @param ttlMs     time to live, 0 for none
 * @param label     free text or null
 * @param access    the descriptor's access
 */
public record AllocateRequest(long sizeBytes, Holder holder, String session, String tenant, boolean sensitive,
    long ttlMs, String label, Access access) {}
