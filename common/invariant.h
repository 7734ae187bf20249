#ifndef BERTH_COMMON_INVARIANT_H_
#define BERTH_COMMON_INVARIANT_H_

#include <cstdio>
#include <cstdlib>

// BERTH_INVARIANT(condition, message): a crash on the impossible. When `condition` is false
// the process writes "invariant violated: <message> (<file>:<line>)" to stderr (the journal,
// under systemd) and aborts, in every build type: state that broke a stated invariant must not
// go on to hand out a resource twice. For what the code itself guarantees, never for input
// (input gets a Status).
#define BERTH_INVARIANT(condition, message)                                            \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::fprintf(stderr, "invariant violated: %s (%s:%d)\n", message, __FILE__,      \
                   __LINE__);                                                          \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)

#endif  // BERTH_COMMON_INVARIANT_H_
