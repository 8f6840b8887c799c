export class CibParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CibParseError';
  }
}
