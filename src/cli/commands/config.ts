// `keyward config check FILE`: validate without starting (exit 3 on any problem, printing each with its path).
import { ConfigError, loadConfigFile } from '../../config/load.ts';
import { productionProblems } from '../../config/production.ts';
import { EXIT, type CliIo } from '../io.ts';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, file] = argv;
  if (sub !== 'check' || file === undefined) {
    io.err('usage: keyward config check FILE');
    return EXIT.usage;
  }
  try {
    const config = loadConfigFile(file, io.env);
    const { errors, warnings } = productionProblems(config);
    for (const w of warnings) io.err(`warning: ${w}`);
    if (errors.length > 0) {
      for (const e of errors) io.err(`error: ${e}`);
      return EXIT.config;
    }
    io.out(`${file}: ok (mode ${config.mode}, storage ${config.storage.type})`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) io.err(`error: ${p}`);
      return EXIT.config;
    }
    throw e;
  }
}
