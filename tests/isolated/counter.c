/* A deliberately non-reentrant library: one global counter, no locking.
 * Loaded with dlmopen into each interpreter-pool worker's own namespace,
 * every worker has its own counter. */
static int counter = 0;

int counter_add(int by) {
  counter += by;
  return counter;
}

int counter_get(void) { return counter; }
