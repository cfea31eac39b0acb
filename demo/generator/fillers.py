"""Unlabelled sentences and headers: what a report says besides its findings.

Several of them are deliberate traps for keyword rules: "No pericardial
effusion." contains the pleural-effusion value "effusion" and "emphysema in both
upper lobes" a location value, yet neither is a labelled finding; "unchanged"
after a meningioma is not an episode, because only malignant diagnoses take one.
"""

from __future__ import annotations

FINDINGS_HEADERS = ("FINDINGS:", "FINDINGS:", "FINDINGS:", "Findings:", "Findings:", "FINDINGS :")
IMPRESSION_HEADERS = (
    "IMPRESSION:",
    "IMPRESSION:",
    "IMPRESSION:",
    "Impression:",
    "CONCLUSION:",
    "Conclusion:",
)

CHEST_HISTORY = (
    "Known lung cancer s/p RUL lobectomy.",
    "Known lung cancer s/p LLL lobectomy, f/u.",
    "Lung cancer, post-CCRT state.",
    "Breast cancer, metastasis work-up.",
    "Fever and cough for 5 days.",
    "r/o pneumonia.",
    "Hemoptysis.",
    "COPD with dyspnea.",
    "Pulmonary nodule f/u.",
    "Fever of unknown origin.",
    "Post-op f/u.",
    "Old TB history.",
    "Rheumatoid arthritis, ILD evaluation.",
    "Health screening.",
)
CHEST_HISTORY_KO = ("기침, 발열.", "폐결절 추적 검사.", "폐암 수술 후 추적 검사.", "호흡곤란.")
CHEST_TECHNIQUE = (
    "TECHNIQUE: Contrast-enhanced chest CT.",
    "TECHNIQUE: Non-enhanced chest CT, 1 mm reconstruction.",
    "TECHNIQUE: Low-dose chest CT.",
    "EXAM: Chest CT (enhanced).",
    "EXAM: CT chest without contrast.",
)
CHEST_FILLERS = (
    "No significant mediastinal lymph node enlargement.",
    "No enlarged lymph nodes in the mediastinum or hila.",
    "No pericardial effusion.",
    "Heart size is within normal limits.",
    "The central airways are patent.",
    "Atherosclerotic calcification of the aorta and coronary arteries.",
    "Mild centrilobular emphysema in both upper lobes.",
    "Paraseptal emphysema.",
    "Visualized upper abdomen: unremarkable.",
    "Degenerative changes of the thoracic spine.",
    "Small hiatal hernia.",
    "A few calcified lymph nodes in the right hilum, sequelae of old granulomatous disease.",
    "Simple cyst in the liver.",
    "Chemoport in the right subclavian vein.",
    "Thyroid gland: unremarkable.",
    "No pneumothorax.",
    "No evidence of pneumonia.",
    "Trachea and main bronchi are patent.",
    "Diffuse fatty liver.",
    "No osteolytic or osteoblastic bone lesion.",
    "Mild cardiomegaly.",
    "Status post right upper lobectomy.",
    "Postoperative change in the left lower lobe after wedge resection.",
    "No bony abnormality.",
    "Mosaic attenuation is not evident on this study.",
    "Both hila are not enlarged.",
)
CHEST_FILLERS_KO = (
    "심장 크기 정상.",
    "종격동 림프절 비대 없음.",
    "기관 및 주기관지 개통성 양호.",
    "기흉 없음.",
    "상복부 특이 소견 없음.",
)
CHEST_NO_FINDING_SENTENCES = (
    "No active lung lesion.",
    "The lungs are clear.",
    "No focal lung lesion.",
    "No abnormal opacity in both lungs.",
    "Both lungs are clear.",
    "No active lesion in the lung parenchyma.",
)
CHEST_NO_FINDING_IMPRESSIONS = (
    "No active lung lesion.",
    "Negative chest CT.",
    "No remarkable finding in the chest.",
    "Unremarkable study.",
    "No evidence of active pulmonary disease.",
    "No significant abnormality.",
)
CHEST_NO_FINDING_IMPRESSIONS_KO = ("특이 소견 없음.", "흉부 CT 정상.")
CHEST_OTHERWISE = ("No other active lung lesion.", "Otherwise, no significant interval change.", "")
CHEST_OTHERWISE_FIRST = ("No other active lung lesion.", "", "")

COMPARE_SENTENCES = (
    "Compared with the prior CT on {P}.",
    "Comparison is made with the previous chest CT ({P}).",
    "Compared with the prior study on {P}, findings are described below.",
)
COMPARE_SENTENCES_KO = ("이전 검사({P})와 비교함.", "이전 검사와 비교하여 큰 변화 없음.")
COMPARE_HEADERS = ("COMPARISON: {P}.", "COMPARISON: Chest CT, {P}.", "Comparison: {P}.")
NO_COMPARE_HEADERS = ("COMPARISON: None.", "No prior study for comparison.")

BRAIN_TECHNIQUE = (
    "EXAM: Brain MRI with and without contrast (Gd).",
    "TECHNIQUE: Brain MRI, pre- and post-contrast T1WI, T2WI, FLAIR, DWI, SWI.",
    "EXAM: MRI brain, enhanced.",
    "Brain MRI (tumor protocol).",
)
BRAIN_FILLERS = (
    "Midline structures are not shifted.",
    "Ventricles are not dilated.",
    "Mucosal thickening in both maxillary sinuses.",
    "Both mastoid air cells are clear.",
    "Flow voids of the major intracranial arteries are preserved.",
    "The pituitary gland is unremarkable.",
    "No abnormal leptomeningeal enhancement.",
    "Orbits: unremarkable.",
    "Mild diffuse brain atrophy.",
    "No diffusion restriction.",
    "Post-operative change of the calvarium.",
    "Ventricles and sulci are within normal limits for age.",
)
BRAIN_FILLERS_KO = ("정중선 편위 없음.", "뇌실 크기 정상.", "부비동 점막 비후.", "확산 제한 없음.")
BRAIN_NORMAL = (
    "Normal brain MRI.",
    "No significant abnormality in the brain parenchyma.",
    "No abnormal signal intensity or enhancement in the brain.",
    "Unremarkable brain MRI.",
    "No intracranial abnormality.",
)
BRAIN_NORMAL_KO = ("특이 소견 없음.", "뇌 MRI 정상.")
BRAIN_COMPARE = (
    "Compared with the prior MRI on {P}.",
    "Comparison is made with the previous brain MRI ({P}).",
    "COMPARISON: Brain MRI, {P}.",
    "COMPARISON: {P}.",
)
BRAIN_COMPARE_OUTSIDE = (
    "COMPARISON: Outside MRI ({P}).",
    "Compared with the outside brain MRI on {P}.",
    "Comparison is made with the outside hospital MRI ({P}).",
)
BRAIN_COMPARE_KO = ("이전 검사({P})와 비교함.",)
