// tide-exec-stub: the exec stub (agent/exec_stub.h) as a binary of its own, small and linked
// statically, so that the exec a cold start waits for tears down a process of a few pages
// rather than one that mapped the agent's whole binary and libraries (ExecStubBinary).
#include "agent/exec_stub.h"

int main(int argc, char** argv) {
  tide::MaybeRunExecStub(argc, argv);
  return 2;  // not started as a stub: nothing to do
}
