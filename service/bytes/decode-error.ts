// The single error type of every decoder of wire bytes (DCE/RPC PDUs, NDR, EPM towers, MS-SWN
// stubs, NTLMSSP): whatever is wrong with input from the wire ends here, with an exact message, and
// the connection answers it with a fault or closes.
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}
