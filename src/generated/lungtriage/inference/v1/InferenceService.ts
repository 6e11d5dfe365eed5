// Original file: proto/lungtriage/inference/v1/inference.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AnalyzeRequest as _lungtriage_inference_v1_AnalyzeRequest, AnalyzeRequest__Output as _lungtriage_inference_v1_AnalyzeRequest__Output } from '../../../lungtriage/inference/v1/AnalyzeRequest';
import type { AnalyzeResponse as _lungtriage_inference_v1_AnalyzeResponse, AnalyzeResponse__Output as _lungtriage_inference_v1_AnalyzeResponse__Output } from '../../../lungtriage/inference/v1/AnalyzeResponse';
import type { ListModelsRequest as _lungtriage_inference_v1_ListModelsRequest, ListModelsRequest__Output as _lungtriage_inference_v1_ListModelsRequest__Output } from '../../../lungtriage/inference/v1/ListModelsRequest';
import type { ListModelsResponse as _lungtriage_inference_v1_ListModelsResponse, ListModelsResponse__Output as _lungtriage_inference_v1_ListModelsResponse__Output } from '../../../lungtriage/inference/v1/ListModelsResponse';

export interface InferenceServiceClient extends grpc.Client {
  /**
   * One volume in (header, then chunks), one analysis out.
   */
  Analyze(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  Analyze(metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  Analyze(options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  Analyze(callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  /**
   * One volume in (header, then chunks), one analysis out.
   */
  analyze(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  analyze(metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  analyze(options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  analyze(callback: grpc.requestCallback<_lungtriage_inference_v1_AnalyzeResponse__Output>): grpc.ClientWritableStream<_lungtriage_inference_v1_AnalyzeRequest>;
  
  /**
   * The loaded models and the execution provider they run on.
   */
  ListModels(argument: _lungtriage_inference_v1_ListModelsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  ListModels(argument: _lungtriage_inference_v1_ListModelsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  ListModels(argument: _lungtriage_inference_v1_ListModelsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  ListModels(argument: _lungtriage_inference_v1_ListModelsRequest, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The loaded models and the execution provider they run on.
   */
  listModels(argument: _lungtriage_inference_v1_ListModelsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  listModels(argument: _lungtriage_inference_v1_ListModelsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  listModels(argument: _lungtriage_inference_v1_ListModelsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  listModels(argument: _lungtriage_inference_v1_ListModelsRequest, callback: grpc.requestCallback<_lungtriage_inference_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface InferenceServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * One volume in (header, then chunks), one analysis out.
   */
  Analyze: grpc.handleClientStreamingCall<_lungtriage_inference_v1_AnalyzeRequest__Output, _lungtriage_inference_v1_AnalyzeResponse>;
  
  /**
   * The loaded models and the execution provider they run on.
   */
  ListModels: grpc.handleUnaryCall<_lungtriage_inference_v1_ListModelsRequest__Output, _lungtriage_inference_v1_ListModelsResponse>;
  
}

export interface InferenceServiceDefinition extends grpc.ServiceDefinition {
  Analyze: MethodDefinition<_lungtriage_inference_v1_AnalyzeRequest, _lungtriage_inference_v1_AnalyzeResponse, _lungtriage_inference_v1_AnalyzeRequest__Output, _lungtriage_inference_v1_AnalyzeResponse__Output>
  ListModels: MethodDefinition<_lungtriage_inference_v1_ListModelsRequest, _lungtriage_inference_v1_ListModelsResponse, _lungtriage_inference_v1_ListModelsRequest__Output, _lungtriage_inference_v1_ListModelsResponse__Output>
}
