// Differences between splitlet and the reference kubelet that are not splitlet's bugs,
// each with its reason (issue 18). A difference the differential run finds that is not
// listed here fails the run. `field` is the snapshot's field path (snapshot.ts), or a
// regular expression over it when it starts with `/`; `case` limits it to one case.
export interface Accepted {
  case?: string;
  field: string;
  reason: string;
}

export const ACCEPTED: Accepted[] = [
  {
    field: '/^runtime\\.pullError /',
    reason:
      "the runtime's own text of a failed pull, which the kubelet passes on verbatim after its own words (`Failed to pull image \"…\": `, `ErrImagePull: `): Docker's daemon says `Get \"https://registry-1.docker.io/v2/\": dial tcp: …`, containerd's CRI `failed to pull and unpack image …`. The kubelet's words around it, the reasons and the back-off are compared and the same.",
  },
];
