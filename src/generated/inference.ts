import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AnalyzeRequest as _lungtriage_inference_v1_AnalyzeRequest, AnalyzeRequest__Output as _lungtriage_inference_v1_AnalyzeRequest__Output } from './lungtriage/inference/v1/AnalyzeRequest';
import type { AnalyzeResponse as _lungtriage_inference_v1_AnalyzeResponse, AnalyzeResponse__Output as _lungtriage_inference_v1_AnalyzeResponse__Output } from './lungtriage/inference/v1/AnalyzeResponse';
import type { Code as _lungtriage_inference_v1_Code, Code__Output as _lungtriage_inference_v1_Code__Output } from './lungtriage/inference/v1/Code';
import type { CropBox as _lungtriage_inference_v1_CropBox, CropBox__Output as _lungtriage_inference_v1_CropBox__Output } from './lungtriage/inference/v1/CropBox';
import type { InfectionResult as _lungtriage_inference_v1_InfectionResult, InfectionResult__Output as _lungtriage_inference_v1_InfectionResult__Output } from './lungtriage/inference/v1/InfectionResult';
import type { InferenceServiceClient as _lungtriage_inference_v1_InferenceServiceClient, InferenceServiceDefinition as _lungtriage_inference_v1_InferenceServiceDefinition } from './lungtriage/inference/v1/InferenceService';
import type { Label as _lungtriage_inference_v1_Label, Label__Output as _lungtriage_inference_v1_Label__Output } from './lungtriage/inference/v1/Label';
import type { ListModelsRequest as _lungtriage_inference_v1_ListModelsRequest, ListModelsRequest__Output as _lungtriage_inference_v1_ListModelsRequest__Output } from './lungtriage/inference/v1/ListModelsRequest';
import type { ListModelsResponse as _lungtriage_inference_v1_ListModelsResponse, ListModelsResponse__Output as _lungtriage_inference_v1_ListModelsResponse__Output } from './lungtriage/inference/v1/ListModelsResponse';
import type { ModelInfo as _lungtriage_inference_v1_ModelInfo, ModelInfo__Output as _lungtriage_inference_v1_ModelInfo__Output } from './lungtriage/inference/v1/ModelInfo';
import type { PatientResult as _lungtriage_inference_v1_PatientResult, PatientResult__Output as _lungtriage_inference_v1_PatientResult__Output } from './lungtriage/inference/v1/PatientResult';
import type { SliceResult as _lungtriage_inference_v1_SliceResult, SliceResult__Output as _lungtriage_inference_v1_SliceResult__Output } from './lungtriage/inference/v1/SliceResult';
import type { Timing as _lungtriage_inference_v1_Timing, Timing__Output as _lungtriage_inference_v1_Timing__Output } from './lungtriage/inference/v1/Timing';
import type { VolumeChunk as _lungtriage_inference_v1_VolumeChunk, VolumeChunk__Output as _lungtriage_inference_v1_VolumeChunk__Output } from './lungtriage/inference/v1/VolumeChunk';
import type { VolumeHeader as _lungtriage_inference_v1_VolumeHeader, VolumeHeader__Output as _lungtriage_inference_v1_VolumeHeader__Output } from './lungtriage/inference/v1/VolumeHeader';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  lungtriage: {
    inference: {
      v1: {
        AnalyzeRequest: MessageTypeDefinition<_lungtriage_inference_v1_AnalyzeRequest, _lungtriage_inference_v1_AnalyzeRequest__Output>
        AnalyzeResponse: MessageTypeDefinition<_lungtriage_inference_v1_AnalyzeResponse, _lungtriage_inference_v1_AnalyzeResponse__Output>
        Code: MessageTypeDefinition<_lungtriage_inference_v1_Code, _lungtriage_inference_v1_Code__Output>
        CropBox: MessageTypeDefinition<_lungtriage_inference_v1_CropBox, _lungtriage_inference_v1_CropBox__Output>
        InfectionResult: MessageTypeDefinition<_lungtriage_inference_v1_InfectionResult, _lungtriage_inference_v1_InfectionResult__Output>
        InferenceService: SubtypeConstructor<typeof grpc.Client, _lungtriage_inference_v1_InferenceServiceClient> & { service: _lungtriage_inference_v1_InferenceServiceDefinition }
        Label: MessageTypeDefinition<_lungtriage_inference_v1_Label, _lungtriage_inference_v1_Label__Output>
        ListModelsRequest: MessageTypeDefinition<_lungtriage_inference_v1_ListModelsRequest, _lungtriage_inference_v1_ListModelsRequest__Output>
        ListModelsResponse: MessageTypeDefinition<_lungtriage_inference_v1_ListModelsResponse, _lungtriage_inference_v1_ListModelsResponse__Output>
        ModelInfo: MessageTypeDefinition<_lungtriage_inference_v1_ModelInfo, _lungtriage_inference_v1_ModelInfo__Output>
        PatientResult: MessageTypeDefinition<_lungtriage_inference_v1_PatientResult, _lungtriage_inference_v1_PatientResult__Output>
        SliceResult: MessageTypeDefinition<_lungtriage_inference_v1_SliceResult, _lungtriage_inference_v1_SliceResult__Output>
        Timing: MessageTypeDefinition<_lungtriage_inference_v1_Timing, _lungtriage_inference_v1_Timing__Output>
        VolumeChunk: MessageTypeDefinition<_lungtriage_inference_v1_VolumeChunk, _lungtriage_inference_v1_VolumeChunk__Output>
        VolumeHeader: MessageTypeDefinition<_lungtriage_inference_v1_VolumeHeader, _lungtriage_inference_v1_VolumeHeader__Output>
      }
    }
  }
}

