// The defaults several programs share (witnessd, witness-agent, witnessctl and the OCF agents'
// parameters), in one light module: the OCF agent reads it for meta-data without loading the store
// or the service.

/** The node-local state store. */
export const DEFAULT_DB_PATH = '/var/lib/pacemaker-witness/state.db';

/** The witness service's fixed TCP port, so that firewalls can be set (Windows uses a dynamic one). */
export const DEFAULT_WITNESS_PORT = 5999;
/** The DCE/RPC endpoint mapper, where clients look the witness up first. */
export const DEFAULT_EPM_PORT = 135;
export const DEFAULT_LISTEN_ADDRESS = '0.0.0.0';

/** Resource agents whose resources are floating IPs. */
export const DEFAULT_IP_AGENTS = ['ocf:heartbeat:IPaddr2', 'ocf:heartbeat:IPaddr', 'ocf:heartbeat:IPv6addr'] as const;

/** The Samba configuration whose shares are learnt (testparm -s). */
export const DEFAULT_SMB_CONF = '/etc/samba/smb.conf';

/** The lowest DCE/RPC authentication level witness calls are accepted at. */
export const DEFAULT_MIN_AUTH_LEVEL = 'integrity';

/** Seconds after UNAVAILABLE or a move before a registration is dropped (Samba's re-registration workaround). */
export const DEFAULT_FORCE_UNREGISTER_AFTER_S = 5;
