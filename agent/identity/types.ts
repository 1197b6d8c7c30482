// Who this instance is, and how the agent is told to find out. config.ts produces
// IdentityConfig; everything else in the agent reads only the resolved Identity.

export type IdentityConfig =
  | {
      provider: 'imds';
      /** The instance tag whose value is the role; 'herd:role' by default. */
      roleTag: string;
      /** Metadata endpoint base URL (AWS_EC2_METADATA_SERVICE_ENDPOINT); http://169.254.169.254 when unset. */
      endpoint?: string;
      /** Per-request timeout for the metadata service, in milliseconds. */
      timeoutMs?: number;
    }
  | { provider: 'static'; instanceId: string; role: string; az: string; region: string };

export interface Identity {
  instanceId: string;
  role: string;
  az: string;
  region: string;
  provider: 'imds' | 'static';
}

/** Where the role came from, for the log line and /status. */
export type RoleSource = 'static' | 'metadata-tags' | 'describe-tags';
