import { Duplex } from 'node:stream';

/** Two Duplex ends wired to each other, like the two ends of a serial line (tests, no tty). */
export function linkedPair(): [host: Duplex, board: Duplex] {
  const ends: Duplex[] = [];
  const make = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        other().push(chunk);
        callback();
      },
    });
  ends.push(
    make(() => ends[1]!),
    make(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}
