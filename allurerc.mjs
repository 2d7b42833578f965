// Allure 3 configuration for chiprig reports (used by `chiprig run` and `npx allure generate`).
// singleFile: one index.html that opens from disk, no web server needed.
export default {
  name: 'chiprig conformance report',
  categories: {
    rules: [
      {
        id: 'device-failures',
        name: 'Device failures (the device broke a requirement)',
        matchers: { statuses: ['failed'] },
        groupBy: [{ label: 'feature' }],
      },
      {
        id: 'rig-faults',
        name: 'Rig, link or instrument faults (not a verdict on the device)',
        matchers: { statuses: ['broken'] },
        groupByMessage: true,
      },
    ],
  },
  plugins: {
    awesome: {
      options: {
        reportName: 'chiprig conformance report',
        singleFile: true,
        groupBy: ['epic', 'feature'],
      },
    },
  },
};
