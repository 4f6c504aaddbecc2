// A plugin module as a sweep spec lists it: the default export is a list of plugins.
export default [
  {
    kind: 'dataset',
    name: 'fixture-dataset',
    create() {
      throw new Error('fixture-dataset is only for spec checks');
    },
  },
];
