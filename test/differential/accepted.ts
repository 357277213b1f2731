// Differences between splitlet and the reference kubelet that are not splitlet's bugs,
// each with its reason (issue 18). A difference the differential run finds that is not
// listed here fails the run. `field` is the snapshot's field path (snapshot.ts), or a
// regular expression over it when it starts with `/`; `case` limits it to one case.
export interface Accepted {
  case?: string;
  field: string;
  reason: string;
}

export const ACCEPTED: Accepted[] = [];
