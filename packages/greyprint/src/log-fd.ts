import { constants, fstatSync, openSync } from 'node:fs';

/**
 * A descriptor for the log that never blocks the event loop. A pipe or terminal whose reader
 * stops reading makes a blocking write(2) wait forever (and with it every answer and the
 * SIGTERM handler), so for those the same pipe or terminal is opened anew through
 * /proc/self/fd with O_NONBLOCK: a full pipe then answers EAGAIN, which LogSink handles by
 * keeping a bounded backlog and dropping past it. A new open file description is used rather
 * than setting O_NONBLOCK on the inherited one, which the shell or service manager shares.
 * A socket (journald's stream for stdout and stderr) cannot be opened that way; it is set non-blocking through
 * Node's own stdio stream, as Node does for any socket. Regular files never wait on a reader
 * and are used as they are.
 */
export function nonBlockingLogFd(fd: number): number {
  let st: ReturnType<typeof fstatSync>;
  try {
    st = fstatSync(fd);
  } catch {
    return fd;
  }
  if (st.isFIFO() || st.isCharacterDevice()) {
    try {
      return openSync(
        `/proc/self/fd/${fd}`,
        constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_APPEND,
      );
    } catch {
      return fd;
    }
  }
  if (st.isSocket()) {
    // The getter creates a net.Socket on the descriptor, and libuv makes it non-blocking.
    if (fd === 1) void process.stdout;
    else if (fd === 2) void process.stderr;
  }
  return fd;
}
