/** Types of start-output.mjs (plain JS, run by `npm start` without a build). */
export function humanLine(name: string, line: string): string | undefined;
export function banner(o: {
  home: string;
  url: string;
  email: string;
  password: string;
  dicomPort: number;
  agentCli: string;
  agentDir: string;
  logsDir: string;
}): string;
