/**
 * Vendor-private Storage SOP Classes that modalities and workstations really send: the default of the
 * `privateSopClasses` gateway setting, so a Siemens CSA Non-Image object or a Philips ExamCard keeps
 * being stored when arbitrary private UIDs no longer are. DCMTK's storescp accepts none by default;
 * this is the list PixelMed (D. Clunie, SOPClass.java) recognises as private image and non-image
 * storage, the same one dcm4che and fo-dicom name. An admin who sets the setting replaces it whole.
 */
export const DEFAULT_PRIVATE_SOP_CLASSES: readonly string[] = [
  '1.2.840.113619.4.2', // GE Dicom MR Image Info Object
  '1.2.840.113619.4.3', // GE Dicom CT Image Info Object
  '1.2.840.113619.4.4', // GE Dicom Display Image Info Object
  '1.2.840.113619.4.5.249', // GE RT Plan Storage
  '1.2.840.113619.4.26', // GE 3D Model Storage
  '1.2.840.113619.4.27', // GE eNTEGRA Protocol or NM Genie Storage
  '1.2.840.113619.4.30', // GE PET Raw Data Storage
  '1.2.528.1.1001.5.1.1.1', // GE Collage Storage
  '1.3.12.2.1107.5.9.1', // Siemens CSA Non-Image Storage
  '1.3.12.2.1107.5.99.3.10', // Siemens CT MR Volume Storage
  '1.3.12.2.1107.5.99.3.11', // Siemens AX Frame Sets Storage
  '1.2.124.113532.3500.7', // Agfa Basic Attribute Presentation State
  '1.3.6.1.4.1.16978.3.1', // Medical Insight 3D Softcopy Presentation State Storage
  '1.2.276.0.48.5.1.4.1.1.7', // TomTec Annotation Storage
  '1.2.392.200036.9125.1.1.2', // Fuji CR Image Storage
  '1.2.392.200036.9116.7.8.1.1.1', // Toshiba US Image Storage
  '1.3.46.670589.2.3.1.1', // Philips Specialised XA Storage
  '1.3.46.670589.2.4.1.1', // Philips CX Image Storage
  '1.3.46.670589.2.5.1.1', // Philips 3D Presentation State Storage
  '1.3.46.670589.2.8.1.1', // Philips VRML Storage
  '1.3.46.670589.2.11.1.1', // Philips Volume Set Storage
  '1.3.46.670589.5.0.1', // Philips Volume Storage
  '1.3.46.670589.5.0.1.1', // Philips Volume Storage (new)
  '1.3.46.670589.5.0.2', // Philips 3D Object Storage
  '1.3.46.670589.5.0.2.1', // Philips 3D Object Storage (new)
  '1.3.46.670589.5.0.3', // Philips Surface Storage
  '1.3.46.670589.5.0.3.1', // Philips Surface Storage (new)
  '1.3.46.670589.5.0.4', // Philips Composite Object Storage
  '1.3.46.670589.5.0.7', // Philips MR Cardio Profile Storage
  '1.3.46.670589.5.0.8', // Philips MR Cardio Storage
  '1.3.46.670589.5.0.8.1', // Philips MR Cardio Storage (new)
  '1.3.46.670589.5.0.9', // Philips CT Synthetic Image Storage
  '1.3.46.670589.5.0.10', // Philips MR Synthetic Image Storage
  '1.3.46.670589.5.0.11', // Philips MR Cardio Analysis Storage
  '1.3.46.670589.5.0.11.1', // Philips MR Cardio Analysis Storage (new)
  '1.3.46.670589.5.0.12', // Philips CX Synthetic Image Storage
  '1.3.46.670589.5.0.13', // Philips Perfusion Storage
  '1.3.46.670589.5.0.14', // Philips Perfusion Image Storage
  '1.3.46.670589.7.8.1618510091', // Philips X-Ray MF Storage
  '1.3.46.670589.7.8.1618510092', // Philips Live Run Storage
  '1.3.46.670589.7.8.16185100129', // Philips Run Storage
  '1.3.46.670589.7.8.16185100130', // Philips Reconstruction Storage
  '1.3.46.670589.11.0.0.12.1', // Philips MR Spectrum Storage
  '1.3.46.670589.11.0.0.12.2', // Philips MR Series Data Storage
  '1.3.46.670589.11.0.0.12.3', // Philips MR Color Image Storage
  '1.3.46.670589.11.0.0.12.4', // Philips MR Examcard Storage
  '1.2.840.113543.6.6.1.3.10001', // Philips HP Live 3D 01 Storage
  '1.2.840.113543.6.6.1.3.10002', // Philips HP Live 3D 02 Storage
  '2.16.840.1.114033.5.1.4.1.1.130', // PMOD Multi-frame Image Storage
  '1.2.826.0.1.3680043.293.1.0.1', // eRAD PracticeBuilder Report Text Storage
  '1.2.826.0.1.3680043.293.1.0.2', // eRAD PracticeBuilder Report Dictation Storage
  '1.2.40.0.13.1.5.1.4.1.1.2.1', // dcm4che Upgraded CT Image Storage
  '1.2.40.0.13.1.5.1.4.1.1.4.1', // dcm4che Upgraded MR Image Storage
  '1.2.40.0.13.1.5.1.4.1.1.128.1', // dcm4che Upgraded PET Image Storage
  '1.2.40.0.13.1.5.1.4.1.1.104.1', // dcm4che Encapsulated Document Storage
  '1.3.6.1.4.1.5962.301.1', // PixelMed Legacy Converted Enhanced CT Image Storage
  '1.3.6.1.4.1.5962.301.2', // PixelMed Legacy Converted Enhanced MR Image Storage
  '1.3.6.1.4.1.5962.301.3', // PixelMed Legacy Converted Enhanced PET Image Storage
  '1.3.6.1.4.1.5962.301.9', // PixelMed Floating Point Image Storage
];
