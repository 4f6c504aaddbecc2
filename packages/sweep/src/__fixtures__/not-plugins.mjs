export default { kind: 'dataset' };
