/** Generated cases per property in npm test (CHIPRIG_PROPERTY_RUNS to run more or fewer). */
export const RUNS =
  Number(process.env.CHIPRIG_PROPERTY_RUNS) > 0 ? Number(process.env.CHIPRIG_PROPERTY_RUNS) : 2000;
