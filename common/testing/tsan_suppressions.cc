// ThreadSanitizer suppressions for every test binary (linked through
// ls_testing; only a TSan runtime calls this hook). Kept in code rather
// than a TSAN_OPTIONS file because ctest cannot pass per-test environment
// reliably (see cmake/LatentsearchHelpers.cmake).
//
// hnswlib 0.6.2 inserts hold the new element's lock for the whole insertion
// and lock other elements while searching / linking; our copy of its
// insertion (common/index/hnsw.cc) does the same. ThreadSanitizer sees the
// two lock orders (A holds a, wants b; B holds b, wants a) but a cycle
// cannot happen: an element is only reachable on levels it has finished
// linking, and an insertion proceeds from the top level down, so A at level
// l waiting for b needs B below l, while B waiting for a needs A below B's
// level.
//
// Lock-order (deadlock) detection is off as a whole: libstdc++'s std::mutex
// has a trivial destructor, so ThreadSanitizer never sees hnswlib's per-
// element mutexes die, and a new graph's mutexes at reused addresses inherit
// the old graph's lock-order edges — reports with no stacks that no
// suppression can match. Data-race detection stays on everywhere.
extern "C" const char* __tsan_default_options() { return "detect_deadlocks=0"; }

extern "C" const char* __tsan_default_suppressions() {
  return "deadlock:hnswlib::HierarchicalNSW<float>::searchBaseLayer\n"
         "deadlock:hnswlib::HierarchicalNSW<float>::mutuallyConnectNewElement\n"
         "deadlock:common/index/hnsw.cc\n";
}
