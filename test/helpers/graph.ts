import type { Graph } from '../../src/graph/graph.js';
import { readOnnxModel } from '../../src/graph/model.js';
import { FileSource } from '../../src/io/byte-source.js';

/** The main graph of the ONNX model at `path`. */
export function readGraph(path: string): Graph {
  const source = new FileSource(path, path);
  try {
    return readOnnxModel(source, path).graph;
  } finally {
    source.close();
  }
}
