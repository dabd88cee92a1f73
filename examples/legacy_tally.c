/* A stand-in for a legacy C library that keeps its state in globals and is
 * not safe to call from two threads at once. */
static long tally = 0;

long tally_add(long amount) {
  long before = tally; /* a read-modify-write with no lock */
  tally = before + amount;
  return tally;
}
