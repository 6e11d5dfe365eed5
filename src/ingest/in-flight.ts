/**
 * The studies that a STOW request or a DIMSE association of this process is still delivering. The quiet period
 * never ends for them, whatever the timers do: on a loaded machine a heartbeat can come late, and a study arriving
 * slowly in one request must not be called complete half-way. (Other gateways see the database heartbeat.)
 */
export class StudiesInFlight {
  private readonly open = new Map<string, number>();

  /** A request or association has stored its first instance of this study. */
  enter(studyUid: string): void {
    this.open.set(studyUid, (this.open.get(studyUid) ?? 0) + 1);
  }

  /** The request or association that entered these studies is over, however it ended. */
  leave(studyUids: Iterable<string>): void {
    for (const uid of studyUids) {
      const n = (this.open.get(uid) ?? 0) - 1;
      if (n > 0) this.open.set(uid, n);
      else this.open.delete(uid);
    }
  }

  list(): string[] {
    return [...this.open.keys()];
  }
}
